"""mediatasks.audio"""
