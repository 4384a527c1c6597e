"""The text project template (copied by ``runway init --template text``); this file is not copied."""
