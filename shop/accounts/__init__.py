"""Customer accounts: sign-up, API tokens (django-rest-knox), profile and password (issue 12).

Identity is platform, like django.contrib.auth: the contexts see only the user's id.
"""
