"""The retrieval engine: documents → passages → vectors → FAISS index → hits."""
