"""HTTP routes of the chat peer: only a readiness answer for the harness."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path


def ready(request: HttpRequest) -> JsonResponse:
    """200 once Django has loaded."""
    return JsonResponse({"status": "ready"})


urlpatterns = [path("readyz", ready)]
