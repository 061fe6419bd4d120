"""Preprocessing recipes: decoded images in, model-ready arrays out, exactly as training prepared them."""
