"""The release flow: what each task of ``statemachine/release.asl.json`` does for one environment."""
