"""datagen: turn 3D ground truth into metric-depth question/answer data for VLMs.

Importing the package is cheap: heavy dependencies (open3d, pyrender, torch,
ray) load inside the functions that need them.
"""

__version__ = "0.1.0"

from datagen.errors import DatagenError  # noqa: E402
from datagen.types import Camera, DepthView, Frame, QARecord, Sample  # noqa: E402

__all__ = ["Camera", "DatagenError", "DepthView", "Frame", "QARecord", "Sample", "__version__"]
