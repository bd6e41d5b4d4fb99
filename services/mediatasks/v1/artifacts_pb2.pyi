from google.api import annotations_pb2 as _annotations_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mediatasks.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetSignedArtifactRequest(_message.Message):
    __slots__ = ("artifact_id", "expires", "signature")
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    artifact_id: str
    expires: int
    signature: str
    def __init__(self, artifact_id: _Optional[str] = ..., expires: _Optional[int] = ..., signature: _Optional[str] = ...) -> None: ...

class GetArtifactRequest(_message.Message):
    __slots__ = ("artifact_id",)
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    artifact_id: str
    def __init__(self, artifact_id: _Optional[str] = ...) -> None: ...

class DescribeUploadsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateUploadRequest(_message.Message):
    __slots__ = ("length", "filename", "content_type", "sha256")
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    length: int
    filename: str
    content_type: str
    sha256: str
    def __init__(self, length: _Optional[int] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., sha256: _Optional[str] = ...) -> None: ...

class UploadRef(_message.Message):
    __slots__ = ("upload_id",)
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    def __init__(self, upload_id: _Optional[str] = ...) -> None: ...

class WriteUploadRequest(_message.Message):
    __slots__ = ("upload_id", "body", "offset")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    body: _httpbody_pb2.HttpBody
    offset: int
    def __init__(self, upload_id: _Optional[str] = ..., body: _Optional[_Union[_httpbody_pb2.HttpBody, _Mapping]] = ..., offset: _Optional[int] = ...) -> None: ...

class Upload(_message.Message):
    __slots__ = ("upload_id", "artifact_id", "state", "offset", "length", "sha256", "filename", "content_type", "created_at", "expires_at", "artifact")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    artifact_id: str
    state: str
    offset: int
    length: int
    sha256: str
    filename: str
    content_type: str
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    artifact: _common_pb2.Artifact
    def __init__(self, upload_id: _Optional[str] = ..., artifact_id: _Optional[str] = ..., state: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ..., sha256: _Optional[str] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., artifact: _Optional[_Union[_common_pb2.Artifact, _Mapping]] = ...) -> None: ...

class CreatePresignedUploadRequest(_message.Message):
    __slots__ = ("length", "filename", "content_type", "part_size")
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PART_SIZE_FIELD_NUMBER: _ClassVar[int]
    length: int
    filename: str
    content_type: str
    part_size: int
    def __init__(self, length: _Optional[int] = ..., filename: _Optional[str] = ..., content_type: _Optional[str] = ..., part_size: _Optional[int] = ...) -> None: ...

class PresignedUpload(_message.Message):
    __slots__ = ("upload_id", "parts", "expires_at", "complete_url")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_URL_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    parts: _containers.RepeatedCompositeFieldContainer[PresignedPart]
    expires_at: _timestamp_pb2.Timestamp
    complete_url: str
    def __init__(self, upload_id: _Optional[str] = ..., parts: _Optional[_Iterable[_Union[PresignedPart, _Mapping]]] = ..., expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., complete_url: _Optional[str] = ...) -> None: ...

class PresignedPart(_message.Message):
    __slots__ = ("part_number", "url", "offset", "size")
    PART_NUMBER_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    part_number: int
    url: str
    offset: int
    size: int
    def __init__(self, part_number: _Optional[int] = ..., url: _Optional[str] = ..., offset: _Optional[int] = ..., size: _Optional[int] = ...) -> None: ...

class GetArtifactUrlRequest(_message.Message):
    __slots__ = ("artifact_id", "expires_in_seconds")
    ARTIFACT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    artifact_id: str
    expires_in_seconds: int
    def __init__(self, artifact_id: _Optional[str] = ..., expires_in_seconds: _Optional[int] = ...) -> None: ...

class ArtifactUrl(_message.Message):
    __slots__ = ("url", "expires_at")
    URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    url: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, url: _Optional[str] = ..., expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
