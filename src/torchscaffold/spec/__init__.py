"""What the user asked for: the model description (IR), its TOML loader, and the presets."""
