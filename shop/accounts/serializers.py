"""Shapes of the account API. Input serializers validate; the services decide (shop.accounts.services)."""

from typing import cast

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from rest_framework import serializers

from shop.api import StrictCharField

User = get_user_model()
USERNAME_FIELD = User._meta.get_field("username")


def max_length(field: str) -> int | None:
    return cast(models.Field, User._meta.get_field(field)).max_length


# A password is hashed on every attempt: a bound keeps a huge body from costing more than a login.
PASSWORD_MAX_LENGTH = 256


def password_field(**kwargs) -> StrictCharField:
    # Spaces are part of a password, never trimmed (as Django's forms and DRF's login do).
    return StrictCharField(
        max_length=PASSWORD_MAX_LENGTH,
        trim_whitespace=False,
        write_only=True,
        style={"input_type": "password"},
        **kwargs,
    )


def password_problems(password: str, *, user) -> list[str]:
    """What AUTH_PASSWORD_VALIDATORS find wrong with the password (nothing: an empty list)."""
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as error:
        return list(error.messages)
    return []


PASSWORD_RULES = " ".join(password_validation.password_validators_help_texts())


class RegisterSerializer(serializers.Serializer):
    # The model's own rules: at most 150 characters, letters, digits and @ . + - _ only.
    username = StrictCharField(
        max_length=USERNAME_FIELD.max_length, validators=USERNAME_FIELD.validators, help_text=USERNAME_FIELD.help_text
    )
    email = serializers.EmailField(max_length=max_length("email"))
    password = password_field(help_text=PASSWORD_RULES)

    def validate(self, attrs: dict) -> dict:
        # An unsaved user, so that the similarity validator compares with the username and email.
        candidate = User(username=attrs["username"], email=attrs["email"])
        problems = password_problems(attrs["password"], user=candidate)
        if problems:
            raise serializers.ValidationError({"password": problems})
        return attrs


class RegisteredSerializer(serializers.Serializer):
    """The answer to a registration: the same whether the email was new or taken."""

    username = serializers.CharField()
    email = serializers.EmailField()
    detail = serializers.CharField()


class LoginSerializer(serializers.Serializer):
    username = StrictCharField(max_length=USERNAME_FIELD.max_length)
    password = password_field()


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send it as `Authorization: Token <token>`.")
    expiry = serializers.DateTimeField(allow_null=True, help_text="When the token stops working; log in again then.")


class AccountSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["username", "email", "first_name", "last_name", "is_staff", "date_joined"]
        read_only_fields = fields


class AccountUpdateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=max_length("email"), required=False)
    first_name = StrictCharField(max_length=max_length("first_name"), required=False, allow_blank=True)
    last_name = StrictCharField(max_length=max_length("last_name"), required=False, allow_blank=True)

    def validate(self, attrs: dict) -> dict:
        fixed = {"username", "is_staff", "date_joined"} & set(self.initial_data)
        if fixed:  # silently ignoring them would let a client believe it changed them
            raise serializers.ValidationError({field: "This field cannot be changed." for field in sorted(fixed)})
        return attrs


class PasswordChangeSerializer(serializers.Serializer):
    old_password = password_field()
    new_password = password_field(help_text=PASSWORD_RULES)

    def validate_new_password(self, value: str) -> str:
        problems = password_problems(value, user=self.context["request"].user)
        if problems:
            raise serializers.ValidationError(problems)
        return value
