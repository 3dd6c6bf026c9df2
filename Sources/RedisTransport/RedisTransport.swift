import CSupport
