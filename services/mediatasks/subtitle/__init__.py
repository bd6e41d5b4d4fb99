"""mediatasks.subtitle"""
