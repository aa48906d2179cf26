"""API plumbing shared by every context: one error format for every 4xx, strict fields."""

import copy
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .errors import ServiceError


def exception_handler(exc, context):
    """Turn service and validation errors into JSON 4xx, a lost database into 503."""
    if isinstance(exc, ServiceError):
        body = {"detail": exc.message, "code": exc.code}
        if exc.field:
            body["field"] = exc.field
        return Response(body, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        return Response({"detail": exc.messages, "code": "invalid"}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, OperationalError):  # connection lost, server restarting: retryable
        return Response(
            {"detail": "The database is unavailable; try again shortly.", "code": "unavailable"},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    return drf_exception_handler(exc, context)


class StrictCharField(serializers.CharField):
    """A string field that takes a string only: 123 is refused, not read as "123".

    DRF's CharField turns numbers into strings; the schema says `type: string`, and a
    client sending a number has a bug it should hear about.
    """

    default_error_messages = {"not_a_string": "Not a valid string."}

    def to_internal_value(self, data: object) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class FieldsOnceModelSerializer(serializers.ModelSerializer):
    # Comments, not a docstring: drf-spectacular would put a docstring in every subclass's schema.
    # DRF's ModelSerializer.get_fields() rebuilds every field from the model's metadata for each
    # serializer instance, nested ones included (one per order line). What it builds depends only
    # on the class (Meta, the declared fields, the model), never on the instance, its data or its
    # context, so it is built once; each instance gets a deep copy, because binding sets a field's
    # parent and source. A deep copy re-creates each field from the arguments it was made with (as
    # DRF does for declared fields), so it is the field get_fields() built.
    # Only for serializers whose get_fields() and field-building hooks (get_extra_kwargs,
    # build_field, ...) do not look at self.instance, self.context or the request.

    _fields_template: ClassVar[dict[str, Any]]  # set on each class that builds its fields

    def get_fields(self) -> dict[str, Any]:
        cls = type(self)
        # Looked up in the class's own __dict__: a subclass has fields of its own.
        template = cls.__dict__.get("_fields_template")
        if template is None:
            template = super().get_fields()
            cls._fields_template = template  # two threads racing both build the same: harmless
        return copy.deepcopy(template)
