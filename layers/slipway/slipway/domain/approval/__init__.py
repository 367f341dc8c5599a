"""The Slack approval gate: request, verify and apply a click, close what is left; CodePipeline approvals too.

Modules follow the flow: ``request`` (post the message) -> ``signature`` + ``decide`` (a signed click) ->
``close`` (void, expire). ``codepipeline`` posts a CodePipeline Manual approval. The Slack callback's path
(``signature``, ``decide``, ``messages``, ``close``, ``ports``) imports only the standard library, so its cold
start stays small.
"""
