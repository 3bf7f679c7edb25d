"""Views of the episodes API: parse, call a service, shape the answer."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from atom.api.middleware import request_id_of
from atom.api.serializers import ErrorOutputSerializer, error_responses
from atom.principals import acting_agent_id
from episodes.api.serializers import (
    IngestInputSerializer,
    IngestOutputSerializer,
    RetrievalInputSerializer,
    RetrievalOutputSerializer,
)
from episodes.ranking import CONTEXTUAL_SCORE_DOC
from episodes.services.ingestion import InteractionInput, interactions_ingest
from episodes.services.retrieval import RetrievalQuery, episode_read, episodes_retrieve

# The API's one error shape, as governance's API already documents it (one component for every app).


def _path_id(name: str) -> OpenApiParameter:
    return OpenApiParameter(name, int, OpenApiParameter.PATH, description="A positive 64-bit id.")


def _errors(*codes: int) -> dict[int, type[ErrorOutputSerializer]]:
    return error_responses(400, 401, 404, 429, *codes)


_RETRIEVAL_DOC = f"""Retrieve an agent's episodes. Every call is a governance decision (one audit row) and is
written to the episode access log. Another owner's agent answers 404.

- `temporal` (STUDENT+): episodes overlapping [since, until], newest first; limit 50, at most 200.
- `semantic` (INTERN+): episodes ranked by cosine similarity of their vector to `q`; limit 10, at most 100.
- `sequential` (STUDENT+): the episode `episode_id` with its segments in order, after `after`; limit 50, at most 200.
- `contextual` (INTERN+): `q` and the time window combined; limit 5, at most 50. {CONTEXTUAL_SCORE_DOC}

A limit above the maximum is clamped, never obeyed."""


class InteractionIngestView(APIView):
    """``POST agents/{id}/interactions/``: store a batch of interactions and queue their segmentation."""

    @extend_schema(
        request=IngestInputSerializer,
        parameters=[_path_id("agent_id")],
        responses={202: IngestOutputSerializer, **_errors(409, 413, 415)},
        summary="Ingest a batch of interactions",
        description=(
            f"At most {settings.EPISODES_INGEST_MAX_BATCH} interactions of at most {settings.EPISODES_CONTENT_MAX_CHARS} characters, "
            "stored atomically; each session's interactions must arrive in time order (409 INTERACTION_OUT_OF_ORDER otherwise). "
            "Segmentation into episodes runs in the background."
        ),
    )
    def post(self, request: Request, agent_id: int) -> Response:
        serializer = IngestInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        items = [InteractionInput(**item) for item in serializer.validated_data["interactions"]]
        result = interactions_ingest(actor=request.user, agent_id=agent_id, items=items, acting_agent_id=acting_agent_id(request))
        return Response(IngestOutputSerializer(result).data, status=202)


class EpisodeRetrievalView(APIView):
    """``GET agents/{id}/episodes/?mode=temporal|semantic|sequential|contextual``."""

    @extend_schema(
        parameters=[_path_id("agent_id"), RetrievalInputSerializer],
        responses={200: RetrievalOutputSerializer, **_errors(403)},
        summary="Retrieve episodes (temporal, semantic, sequential, contextual)",
        description=_RETRIEVAL_DOC,
        extensions={"x-contextual-score": CONTEXTUAL_SCORE_DOC},
    )
    def get(self, request: Request, agent_id: int) -> Response:
        serializer = RetrievalInputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        query = RetrievalQuery(
            mode=data["mode"],
            limit=data.get("limit"),
            text=data["q"],
            since=data.get("since"),
            until=data.get("until"),
            episode_id=data.get("episode_id"),
            after=data["after"],
            include_archived=data["include_archived"],
        )
        result = episodes_retrieve(
            actor=request.user, agent_id=agent_id, query=query, request_id=request_id_of(request), acting_agent_id=acting_agent_id(request)
        )
        return Response(RetrievalOutputSerializer(result).data)


class EpisodeDetailView(APIView):
    """``GET episodes/{id}/``: one of the caller's episodes with its first segments (governed like sequential)."""

    @extend_schema(
        parameters=[_path_id("episode_id")],
        responses={200: RetrievalOutputSerializer, **_errors(403)},
        summary="Read one episode with its segments",
    )
    def get(self, request: Request, episode_id: int) -> Response:
        result = episode_read(
            actor=request.user, episode_id=episode_id, request_id=request_id_of(request), acting_agent_id=acting_agent_id(request)
        )
        return Response(RetrievalOutputSerializer(result).data)
