"""Provider routing (:mod:`.base`, :mod:`.router`, :mod:`.circuit`, :mod:`.status`,
:mod:`.jobs`, :mod:`.operations`) and the vendor adapters it routes to (:mod:`.vendors`)."""
