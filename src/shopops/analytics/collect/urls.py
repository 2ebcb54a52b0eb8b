"""First-party collection endpoints (/collect/…): plain Django views, no session or user auth, a site key."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
