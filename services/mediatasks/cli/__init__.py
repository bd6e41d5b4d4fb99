"""mediatasks.cli"""
