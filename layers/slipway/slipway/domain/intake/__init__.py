"""Release intake: an ECR push, a CodePipeline job or a rollback becomes exactly one release execution."""
