return EdgeRnn.Cli.Entry.Run(args);
