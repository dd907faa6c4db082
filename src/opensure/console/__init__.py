"""The console (SPEC §8): the web application, under ``/app/``, for the people who run a
feedback programme. Server-rendered HTML that works without JavaScript."""
