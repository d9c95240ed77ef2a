namespace EdgeRnn.Cli;

/// <summary>
/// `edgernn help CMD` and `edgernn CMD --help`: a usage line, the flags and a worked example for every command. Flag names
/// are the shared vocabulary of <see cref="Args"/> (--input, --output, --rate, --period; old names are aliases).
/// </summary>
public static class Help
{
    public sealed record Entry(string Name, string Summary, string Usage, string Flags, string Example);

    public static readonly Entry[] Commands =
    [
        new("demo", "simulated sensor, in-process MQTT broker, live forecasts (no arguments needed)",
            "edgernn demo [--duration SECONDS] [--rate HZ]",
            """
              --duration S   stop after S seconds (default: until Ctrl+C)
              --rate HZ      simulated samples per second (default 5)
            """,
            "edgernn demo --duration 30"),
        new("run", "the daemon: sensor stream -> forecast -> MQTT, /healthz and /metrics",
            "edgernn run [--config edgernn.json] [--validate] [--source S] [--model M.safetensors] [--mqtt URL] [...]",
            """
              --config FILE          JSON configuration (every flag is also a key: --fine-tune = "FineTune"; EDGERNN_FINE_TUNE too)
              --validate             check the configuration, each model, and each source's columns/fields against its model; exit
              --source S             serial:/dev/ttyUSB0@115200, csv:FILE, stdin, mqtt:TOPIC/#
              --model FILE           .safetensors model       --precision int8|float32     --fine-tune on|off
              --targets A,B --features A,B,C   what a network-only model file's outputs and inputs are (as for forecast)
              config "Online": {Every, Batch, Chunk, LearningRate...} and "Conditioning": {GapPolicy, MaxHoldSeconds,
                MaxGapSeconds} (EDGERNN_ONLINE__EVERY too): top level for every stream, or in one Streams entry
              --stream NAME          stream name (topic level)   --period 5m (alias --sample-period-seconds 300)
              --condition on|off     resample onto the model's period grid    --rate HZ (alias --csv-rate-hz) CSV replay rate
              --id ID, --id-column C long-format CSV: the series to read (e.g. a Home Assistant entity_id)
              --warm-start FILE|mqtt:TOPIC  history that fills the lookback at start (when no checkpoint does): a CSV, or
                                     retained MQTT messages / a retained [[ts, value...], ...] payload on the source broker
              --unit U --device-class C  Home Assistant unit_of_measurement and device_class of the forecast sensors
              --field PATH           MQTT JSON payloads: where the value is (e.g. temperature, sensor.temp)
              --mqtt URL             mqtt://host[:port] or mqtts://host[:port]; --mqtt-username U --mqtt-password-file F
              --mqtt-ca F --mqtt-cert F --mqtt-key F --mqtt-client-id ID (mqtt: sources use the same broker settings)
              --source-mqtt URL      a different broker for mqtt: sources (--source-mqtt-username, --source-mqtt-password-file)
              --topic-prefix P --gateway G --discovery on|off --discovery-prefix P --message-expiry-seconds N --session-expiry-seconds N
              --state-dir DIR --outbox-max-bytes N --outbox-fsync-seconds S --checkpoint-interval-seconds S --drain-timeout-seconds S
              --metrics HOST:PORT|off  --log-level Information|Debug|Warning
              --anomaly on|off       anomaly score per sample on <prefix>/<gateway>/<stream>/anomaly (default on)
              --anomaly-threshold T  alert ("anomaly": true, HA problem sensor on) at score >= T, T in (0, 1] (default 0.995)
              --anomaly-settings S   detector settings as detect --set takes them (e.g. WarmupRows=288)
            """,
            "edgernn run --source csv:history.csv --id sensor.outdoor_temperature --model temp.safetensors --mqtt mqtt://localhost --validate"),
        new("forecast", "real forecasts in sensor units for every row of a CSV once the lookback is filled",
            "edgernn forecast --model M.safetensors --input in.csv --output out.csv [--precision float32|int8] [--time COL]",
            """
              --model FILE      the model (v2, v1, or network-only with --targets/--features)        --input FILE   a CSV read like train's (--id ID for long format)
              --output FILE     time column, then <target>@<k> for k = 1..H (written atomically)
              --precision P     float32 (default) or int8        --time COL    the time column when not detected
              --targets A,B --features A,B,C   what a network-only file's outputs and inputs are
              --aggregate       what the daemon serves (the experts' online aggregate), not the network alone
              --plot FILE.svg   truth against the one-step-ahead forecast and the final horizon, per target (self-contained SVG)
            """,
            "edgernn forecast --model temp.safetensors --input history.csv --id sensor.outdoor_temperature --output forecast.csv --plot forecast.svg"),
        new("predict", "run a model's network over a CSV of raw inputs, one output row per input row",
            "edgernn predict --model M.safetensors --input in.csv --output out.csv [--precision float32|int8]",
            """
              --model FILE      the model
              --input FILE      header row, then one row of input_size numbers per step
              --output FILE     y0..y{O-1} per row (written atomically)
              --precision P     float32 (default) or int8
            """,
            "edgernn predict --model models/ett_h1.safetensors --input steps.csv --output forecasts.csv"),
        new("train", "train a model on a CSV (wide or long format, e.g. a Home Assistant history export)",
            "edgernn train --input D.csv --target COL[,COL...]|all --horizon H --output M.safetensors [options]",
            """
              --input FILE (alias --data)    CSV: separator , ; or tab; '#' comment lines; empty/unavailable/unknown/NaN are missing
              --target COLS                  column(s) to forecast, or all     --horizon H   steps ahead
              --output FILE (alias --out)    where the model goes
              --id ID, --id-column C         long format: the series to train on (several ids without --id is an error)
              --features COLS --time COL --period 1h|300s --rows N
              --arch gru|lstm|rnn_tanh --hidden 32 --layers 1 --epochs 12 --seed 1 --lookback 336
              --skip nlinear|last|none --inputs diff|level --lr 0.001 --batch N --name N --version V
              --task next-char               a character model on a text file instead (--input corpus.txt --output M.safetensors
                                             [--hidden --layers --batch --seq-length --updates --lr --clip --seed --eval-every])
            """,
            "edgernn train --input history.csv --id sensor.outdoor_temperature --target state --horizon 12 --output temp.safetensors"),
        new("generate", "write text from a character model",
            "edgernn generate --model M.safetensors [--prime TEXT] [--length 500] [--temperature 1] [--top-k 0] [--seed 1] [--precision float32|int8]",
            """
              --model FILE      a character model (train --task next-char)   --prime TEXT   text to start from
              --length N        characters to write (default 500)            --temperature T, --top-k K, --seed S
              --precision P     float32 (default) or int8
            """,
            "edgernn generate --model shakespeare.safetensors --prime \"ROMEO:\" --length 200"),
        new("detect", "anomaly score per row of a series (NAB's format)",
            "edgernn detect --input in.csv --output out.csv [--column value] [--warmup N] [--set Name=V[,...]]",
            """
              --input FILE (alias --data)  a series CSV (read like train's)    --output FILE  timestamp,value,anomaly_score
              --column C        the value column (default: the only one, or 'value')   --id ID   long format: the series
              --warmup N        rows before scoring (default NAB's probationary period)  --set Name=V   detector settings
            """,
            "edgernn detect --input models/data/nab/machine_temperature_system_failure.csv --output scores.csv"),
        new("backtest", "train and evaluate under a published protocol (ltsf windows or online)",
            "edgernn backtest --input D.csv --protocol ltsf|online (--target COL[,...]|all --horizon H | --model M) [--output W.csv] [--plot P.svg] [--json] [options]",
            """
              --input FILE (alias --data)  --protocol ltsf|online  --target COLS  --horizon H
              --rows N --features COLS --time COL --season S --lookback L --period P --id ID --id-column C --coverage 0.9
              --model FILE      score this forecaster file instead of training one (its targets and horizon)
              --json            one JSON object as the last stdout line     --no-int8   skip the int8 evaluation
              --output FILE.csv the served forecaster's forecast for every scored window, one row per (window, target, step):
                                origin_row[,origin_time],target,k,row[,time],forecast,truth[,lower,upper] in sensor units
              --plot FILE.svg   truth against the 1-step forecast (with its interval) and the H-step forecast, per target
              the training flags of `edgernn train` (--arch, --hidden, --epochs, ...) and --online-every/-lr/-batch/-replay
            """,
            "edgernn backtest --input models/data/ett/ETTh1.csv --protocol ltsf --target OT --horizon 24 --epochs 2 --output windows.csv --plot backtest.svg"),
        new("simulate", "play a CSV as a microcontroller running firmware-bridge would",
            "edgernn simulate --input D.csv --to serial:/dev/pts/N[@BAUD]|file:PATH [--rate HZ] [--loop] [--columns a,b]",
            """
              --input FILE (alias --data)  the CSV to play       --to serial:PATH[@BAUD] or file:PATH (file:- = stdout)
              --rate HZ         frames per second (default 10)   --loop   start over at the end
              --columns a,b     which columns to send            --device-id ID   name in the hello frame
            """,
            "edgernn simulate --input models/data/ett/ETTh1.csv --to serial:/tmp/dev-a --rate 50 --loop"),
        new("export-onnx", "write a model as ONNX (LSTM/GRU/RNN ops, opset 17)",
            "edgernn export-onnx --model M.safetensors --output M.onnx",
            """
              --model FILE      the model      --output FILE (alias --out)   the .onnx file
            """,
            "edgernn export-onnx --model models/ett_h1.safetensors --output ett_h1.onnx"),
        new("bench", "time one streaming step, float32 and int8, at several hidden sizes; or many streams of one model",
            "edgernn bench [--json] [--runs N] [--hidden 32,64,128,256]\n       edgernn bench --streams N [--fine-tune on|off] [--hidden H] [--runs N]",
            """
              --json            machine-readable output     --runs N   repetitions (median; default 9)
              --hidden LIST     hidden sizes to time (with --streams: one size, default 64)
              --streams N       N int8 streams sharing one model: stream-steps per second on one core, stepped one
                                by one (N forecasters) and batched (one matrix product per layer per step)
              --fine-tune on    with --streams: each stream learns its own weights; times the tuned network, the
                                frozen shared network (batched) and the learner's updates per sample
            """,
            "edgernn bench --hidden 64 --runs 5\n  edgernn bench --streams 256"),
        new("self-test", "check every SIMD kernel path this CPU has against the scalar reference",
            "edgernn self-test [--quiet]",
            """
              --quiet           print only the verdict
            """,
            "edgernn self-test"),
        new("version", "version, commit, runtime, instruction sets and kernel path",
            "edgernn version",
            "",
            "edgernn version"),
    ];

    public static Entry? Find(string name) => Array.Find(Commands, c => c.Name == name);

    /// <summary>The help page of one command: summary, usage, flags, example.</summary>
    public static string For(string name)
    {
        var c = Find(name) ?? throw new UsageException($"no command '{name}'{(Args.Suggest(name, Commands.Select(x => x.Name)) is { } s ? $" (did you mean {s}?)" : "")}; `edgernn help` lists them");
        string flags = c.Flags.Length > 0 ? $"{Environment.NewLine}options:{Environment.NewLine}{c.Flags.TrimEnd()}{Environment.NewLine}" : "";
        return $"edgernn {c.Name}: {c.Summary}{Environment.NewLine}{Environment.NewLine}usage: {c.Usage}{Environment.NewLine}{flags}{Environment.NewLine}example:{Environment.NewLine}  {c.Example}{Environment.NewLine}";
    }

    public static string Overview()
    {
        var sb = new System.Text.StringBuilder();
        sb.AppendLine("edgernn: an edge time-series forecaster (LSTM, GRU, Elman RNN; int8 SIMD; online fine-tuning; MQTT)");
        sb.AppendLine();
        sb.AppendLine("usage: edgernn <command> [options]      edgernn help <command> (or <command> --help) for its options and an example");
        sb.AppendLine();
        foreach (var c in Commands) sb.AppendLine($"  {c.Name,-13} {c.Summary}");
        return sb.ToString();
    }
}
