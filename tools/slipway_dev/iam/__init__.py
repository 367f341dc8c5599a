"""The IAM check: every AWS call a function makes, judged against that function's role in the template as
CloudFormation deploys it (SAM-translated, policy templates expanded). moto forgives what IAM refuses; this does
not. ``recorder`` records the calls, ``actions`` says which IAM action and resource each one needs, ``roles``
reads the roles from the translated template, ``policy`` evaluates a statement, ``check`` judges and reports."""
