"""mediatasks.registry"""
