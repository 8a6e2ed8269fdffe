"""REST API of promo channels (推广码)."""

from __future__ import annotations

from rest_framework import viewsets


class ChannelViewSet(viewsets.ViewSet):
    """Placeholder until the channel model lands."""

    def list(self, request):
        from rest_framework.response import Response

        return Response([])
