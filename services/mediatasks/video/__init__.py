"""mediatasks.video"""
