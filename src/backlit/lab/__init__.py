"""The lab: what backlit builds on the engine and nn to explain them (the expression lab, ...)."""
