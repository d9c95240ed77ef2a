// Args, UsageException and HelpRequestedException live beside the daemon's configuration (one parser for every command).
global using EdgeRnn.Daemon;
