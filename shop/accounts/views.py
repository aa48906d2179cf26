"""REST API of the accounts, under /api/auth/. Thin: each view validates and calls one service."""

from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.signals import user_logged_out
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from . import services
from .serializers import (
    AccountSerializer,
    AccountUpdateSerializer,
    LoginSerializer,
    PasswordChangeSerializer,
    RegisteredSerializer,
    RegisterSerializer,
    TokenSerializer,
)
from .throttles import LoginUsernameRateThrottle


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class AnonymousEndpoint(GenericAPIView):
    # No authentication at all: a stale or expired token header must not stand between a
    # client and the endpoints that get it a new one. Throttles key on the client's address.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = [ScopedRateThrottle]


class RegisterView(AnonymousEndpoint):
    serializer_class = RegisterSerializer
    throttle_scope = "register"

    @extend_schema(
        summary="Create a customer account",
        description="The answer carries no token: log in next. An email already in use gets the same "
        "answer as a new one (and no account), so the endpoint never tells whose email is registered; "
        "a username already in use is refused, since its owner has to choose another.",
        request=RegisterSerializer,
        responses={201: RegisteredSerializer},
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.account_register(**serializer.validated_data)
        answer = {**serializer.validated_data, "detail": services.REGISTERED}
        return Response(RegisteredSerializer(answer).data, status=status.HTTP_201_CREATED)


class LoginView(AnonymousEndpoint):
    serializer_class = LoginSerializer
    throttle_scope = "login"  # per client address; and per username tried, from any address
    throttle_classes = [ScopedRateThrottle, LoginUsernameRateThrottle]

    @extend_schema(
        summary="Log in: exchange username and password for an API token",
        description="Each login issues a new token (one per device), valid until `expiry`. "
        "A wrong password and an unknown username get the same 400.",
        request=LoginSerializer,
        responses={200: TokenSerializer},
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        issued = services.auth_login(request=request, **serializer.validated_data)
        return Response(TokenSerializer({"token": issued.token, "expiry": issued.expiry}).data)


class LogoutView(APIView):
    @extend_schema(
        summary="Log out: revoke the token of this request (or end this browser session)",
        request=None,
        responses={204: None},
    )
    def post(self, request):
        if isinstance(request.auth, AuthToken):
            services.auth_token_revoke(token=request.auth)
            user_logged_out.send(sender=request.user.__class__, request=request, user=request.user)
        else:
            logout(request)  # flushes the session, sends user_logged_out
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    @extend_schema(
        summary="Log out everywhere: revoke every token of the user",
        description="A browser session making the request ends too.",
        request=None,
        responses={204: None},
    )
    def post(self, request):
        services.auth_tokens_revoke_all(user=request.user)
        if isinstance(request.auth, AuthToken):
            user_logged_out.send(sender=request.user.__class__, request=request, user=request.user)
        else:
            logout(request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(GenericAPIView):
    serializer_class = AccountUpdateSerializer  # the browsable API's form: what may be changed
    permission_classes = [IsAuthenticated]
    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(summary="Read your account", responses=AccountSerializer)
    def get(self, request):
        return Response(AccountSerializer(request.user).data)

    @extend_schema(
        summary="Change your email or names",
        description="Username, is_staff and date_joined cannot be changed here.",
        request=AccountUpdateSerializer,
        responses=AccountSerializer,
    )
    def patch(self, request):
        serializer = self.get_serializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.account_update(user=request.user, **serializer.validated_data)
        return Response(AccountSerializer(request.user).data)


class PasswordChangeView(GenericAPIView):
    serializer_class = PasswordChangeSerializer
    permission_classes = [IsAuthenticated]
    throttle_classes = [ScopedRateThrottle]  # per user: the caller is authenticated
    throttle_scope = "password_change"

    @extend_schema(
        summary="Change your password",
        description="Every other token of yours is revoked and your other browser sessions end; "
        "the token or session of this request stays valid.",
        request=PasswordChangeSerializer,
        responses=DetailSerializer,
    )
    def post(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token = request.auth if isinstance(request.auth, AuthToken) else None
        services.account_password_change(user=request.user, keep=token, **serializer.validated_data)
        if token is None:
            update_session_auth_hash(request, request.user)  # this session follows the new password
        return Response({"detail": "Password changed; your other devices are logged out."})
