"""spaCy components: ``elmo`` (vectors and listeners) and ``elmo_cleanup``."""

from .cleanup import ElmoCleanup, make_elmo_cleanup
from .extensions import install_extensions
from .pipe import Elmo, make_elmo

__all__ = ["Elmo", "make_elmo", "ElmoCleanup", "make_elmo_cleanup", "install_extensions"]
