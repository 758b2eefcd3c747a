"""HTTP: the only importer of httpx, httpcore, h11 and h2."""
