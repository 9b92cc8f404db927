"""Generated from proto/inkmotion/v1 by scripts/gen_proto.py. Do not edit."""
