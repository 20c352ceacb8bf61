"""COLMAP models: text and binary read alike, with COLMAP's pixel and pose conventions converted."""

import numpy as np
import pytest

from datagen.errors import SourceError
from datagen.geometry.se3 import transform_points
from datagen.sources._colmap import image_names_text, read_model
from tests.sources.colmap_files import colmap_project, write_binary_model, write_text_model

CAMERAS = {
    1: ("PINHOLE", 640, 480, [500.0, 510.0, 320.0, 240.0]),
    2: ("OPENCV", 800, 600, [600.0, 605.0, 401.3, 298.7, -0.21, 0.05, 0.001, -0.002]),
    3: ("OPENCV_FISHEYE", 1752, 1168, [780.0, 781.0, 876.0, 584.0, 0.02, -0.01, 0.003, -0.001]),
    4: ("SIMPLE_RADIAL", 320, 240, [300.0, 160.0, 120.0, -0.05]),
}
QUARTER_TURN_Z = [np.sqrt(0.5), 0.0, 0.0, np.sqrt(0.5)]
IMAGES = [(7, QUARTER_TURN_Z, [1.0, 2.0, 3.0], 2, "dslr/b.JPG"), (3, [1.0, 0, 0, 0], [0, 0, 0], 3, "dslr/a.JPG"),
          (9, [1.0, 0, 0, 0], [0.5, 0, 0], 1, "with space.png"), (4, [1.0, 0, 0, 0], [0, 0, 0], 4, "z.png")]


@pytest.fixture(params=["text", "binary"])
def model(request, tmp_path):
    write = write_text_model if request.param == "text" else write_binary_model
    return read_model(write(tmp_path / request.param, CAMERAS, IMAGES))


def test_images_sorted_by_name_with_their_cameras(model):
    assert [image.name for image in model.images] == ["dslr/a.JPG", "dslr/b.JPG", "with space.png", "z.png"]
    assert [model.camera_of(image).model for image in model.images] == ["fisheye", "radtan", "pinhole", "radtan"]


def test_listing_names_without_poses_gives_the_models_names(tmp_path):
    folder = write_text_model(tmp_path, CAMERAS, IMAGES)
    assert image_names_text(folder / "images.txt") == [name for *_, name in IMAGES]
    (folder / "images.txt").write_text("# header\n7 0.5 0.5 dslr/b.JPG\n\n")
    with pytest.raises(SourceError, match=r"images.txt:2: expected 'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME'"):
        image_names_text(folder / "images.txt")


@pytest.mark.parametrize("camera_id", sorted(CAMERAS))
def test_projection_equals_colmaps_less_half_a_pixel(model, camera_id):
    name, width, height, params = CAMERAS[camera_id]
    camera = model.cameras[camera_id]
    assert (camera.width, camera.height) == (width, height)
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(-0.4, 0.4, 50), rng.uniform(-0.3, 0.3, 50), rng.uniform(1, 9, 50)])
    uv, valid = camera.project(points)
    assert valid.all()
    expected = np.array([colmap_project(name, params, p) for p in points]) - 0.5
    np.testing.assert_allclose(uv, expected, atol=1e-9)


def test_pose_is_the_inverse_of_colmaps_world_to_camera(model):
    image = next(i for i in model.images if i.name == "dslr/b.JPG")
    world = np.array([[0.3, -0.2, 4.0]])
    # COLMAP: x_cam = R(q) x_world + t, with q a quarter turn about z
    expected_cam = np.array([[0.2, 0.3, 4.0]]) + [1.0, 2.0, 3.0]
    np.testing.assert_allclose(transform_points(np.linalg.inv(image.T_world_cam), world), expected_cam, atol=1e-12)


def test_malformed_models_name_the_file_and_line(tmp_path):
    folder = write_text_model(tmp_path, {1: ("PINHOLE", 64, 48, [50.0, 50.0, 32.0, 24.0])}, [])
    (folder / "cameras.txt").write_text("1 PINHOLE 64 48 50 50 32\n")
    with pytest.raises(SourceError, match=r"cameras.txt:1: COLMAP model PINHOLE takes 4 parameters"):
        read_model(folder)
    (folder / "cameras.txt").write_text("1 FOV 64 48 50 50 32 24 0.5\n")
    with pytest.raises(SourceError, match="FOV is not supported"):
        read_model(folder)
    with pytest.raises(SourceError, match="no COLMAP model"):
        read_model(tmp_path / "nowhere")
    binary = write_binary_model(tmp_path / "bin", CAMERAS, IMAGES)
    (binary / "images.bin").write_bytes((binary / "images.bin").read_bytes()[:50])
    with pytest.raises(SourceError, match="ends early"):
        read_model(binary)
