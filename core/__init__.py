"""The torch-free code that training and the service share: the manifest schema, decoding, preprocessing
recipes, checksums and the helper graphs. It imports neither `service` nor `training`."""
