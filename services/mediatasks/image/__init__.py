"""mediatasks.image"""
