"""InkMotion: animation models for Grease Pencil and Krita, served over gRPC.

Importing this package is cheap on purpose: the add-ons vendor `inkmotion.client` and
`inkmotion.v1`, which need only grpcio and protobuf.
"""

__version__ = "0.1.0"
