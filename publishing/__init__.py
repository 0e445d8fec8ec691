"""Publishing a timm checkpoint as a Hub repo the Space loads by id: upload_model.py's work.

checkpoint reads the weights; description says what the outputs mean (flags reads it from the command line); folder
builds config.json + model.safetensors + README.md (card renders the card); verify proves the folder through the
Space's own loader; hub uploads it in one commit.
"""

from explainers.models.tasks import DEFAULT_ABSTAIN  # upload_model.py's --help states it

from .card import PIPELINE_TAGS, TASK_TAGS, check_card, check_card_text, default_card, render_card
from .checkpoint import WRAPPER_KEYS, Checkpoint, read_checkpoint
from .description import ModelDescription
from .errors import UnsafeCheckpointError, UploadError, VerificationError
from .flags import description_from_args, read_names
from .folder import ATOL, DATA_CONFIG_KEYS, FOLDER_FILES, build_folder, build_model
from .gallery import GALLERY_DIR, add_gallery, gallery_files
from .hub import UploadResult, check_branch, check_repo_id, require_token, upload
from .verify import Verification, sample_image, sample_input, verify_folder

__all__ = [
    "ATOL",
    "DATA_CONFIG_KEYS",
    "DEFAULT_ABSTAIN",
    "FOLDER_FILES",
    "GALLERY_DIR",
    "PIPELINE_TAGS",
    "TASK_TAGS",
    "WRAPPER_KEYS",
    "Checkpoint",
    "ModelDescription",
    "UnsafeCheckpointError",
    "UploadError",
    "UploadResult",
    "Verification",
    "VerificationError",
    "add_gallery",
    "build_folder",
    "build_model",
    "check_branch",
    "check_card",
    "check_card_text",
    "check_repo_id",
    "default_card",
    "description_from_args",
    "gallery_files",
    "read_checkpoint",
    "read_names",
    "render_card",
    "require_token",
    "sample_image",
    "sample_input",
    "upload",
    "verify_folder",
]
