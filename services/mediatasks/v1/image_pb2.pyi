from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from mediatasks.v1 import common_pb2 as _common_pb2
from mediatasks.v1 import tasks_pb2 as _tasks_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GenerateImageRequest(_message.Message):
    __slots__ = ("prompt", "negative_prompt", "style", "size", "quality", "n", "model", "seed", "output_format", "priority", "webhook_url", "webhook_secret", "webhook_events", "metadata", "max_attempts", "provider", "strategy", "no_cache", "wait_turn")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_EVENTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    NO_CACHE_FIELD_NUMBER: _ClassVar[int]
    WAIT_TURN_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    negative_prompt: str
    style: str
    size: str
    quality: str
    n: int
    model: str
    seed: int
    output_format: str
    priority: str
    webhook_url: str
    webhook_secret: str
    webhook_events: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    max_attempts: int
    provider: str
    strategy: str
    no_cache: bool
    wait_turn: bool
    def __init__(self, prompt: _Optional[str] = ..., negative_prompt: _Optional[str] = ..., style: _Optional[str] = ..., size: _Optional[str] = ..., quality: _Optional[str] = ..., n: _Optional[int] = ..., model: _Optional[str] = ..., seed: _Optional[int] = ..., output_format: _Optional[str] = ..., priority: _Optional[str] = ..., webhook_url: _Optional[str] = ..., webhook_secret: _Optional[str] = ..., webhook_events: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., max_attempts: _Optional[int] = ..., provider: _Optional[str] = ..., strategy: _Optional[str] = ..., no_cache: bool = ..., wait_turn: bool = ...) -> None: ...

class GenerateImageResult(_message.Message):
    __slots__ = ("images", "revised_prompt")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    REVISED_PROMPT_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[_common_pb2.Artifact]
    revised_prompt: str
    def __init__(self, images: _Optional[_Iterable[_Union[_common_pb2.Artifact, _Mapping]]] = ..., revised_prompt: _Optional[str] = ...) -> None: ...

class ImageOperation(_message.Message):
    __slots__ = ("op", "width", "height", "x", "y", "angle", "background")
    OP_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    ANGLE_FIELD_NUMBER: _ClassVar[int]
    BACKGROUND_FIELD_NUMBER: _ClassVar[int]
    op: str
    width: int
    height: int
    x: int
    y: int
    angle: float
    background: str
    def __init__(self, op: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., x: _Optional[int] = ..., y: _Optional[int] = ..., angle: _Optional[float] = ..., background: _Optional[str] = ...) -> None: ...

class TransformImageRequest(_message.Message):
    __slots__ = ("image_url", "operations", "output_format", "quality", "priority", "webhook_url", "webhook_secret", "webhook_events", "metadata", "max_attempts", "provider", "strategy", "no_cache", "wait_turn")
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_URL_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_SECRET_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_EVENTS_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    NO_CACHE_FIELD_NUMBER: _ClassVar[int]
    WAIT_TURN_FIELD_NUMBER: _ClassVar[int]
    image_url: str
    operations: _containers.RepeatedCompositeFieldContainer[ImageOperation]
    output_format: str
    quality: int
    priority: str
    webhook_url: str
    webhook_secret: str
    webhook_events: _containers.RepeatedScalarFieldContainer[str]
    metadata: _struct_pb2.Struct
    max_attempts: int
    provider: str
    strategy: str
    no_cache: bool
    wait_turn: bool
    def __init__(self, image_url: _Optional[str] = ..., operations: _Optional[_Iterable[_Union[ImageOperation, _Mapping]]] = ..., output_format: _Optional[str] = ..., quality: _Optional[int] = ..., priority: _Optional[str] = ..., webhook_url: _Optional[str] = ..., webhook_secret: _Optional[str] = ..., webhook_events: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., max_attempts: _Optional[int] = ..., provider: _Optional[str] = ..., strategy: _Optional[str] = ..., no_cache: bool = ..., wait_turn: bool = ...) -> None: ...

class TransformImageResult(_message.Message):
    __slots__ = ("image", "width", "height", "format")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    image: _common_pb2.Artifact
    width: int
    height: int
    format: str
    def __init__(self, image: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., format: _Optional[str] = ...) -> None: ...
