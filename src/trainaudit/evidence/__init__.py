"""Evidence collectors: they read the project and record facts, never judge."""
