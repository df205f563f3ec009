using Copal.Fuzz;
using SharpFuzz;

// copal-fuzz list | seeds TARGET DIR | run TARGET | replay TARGET FILE...
// `run` is what afl-fuzz starts (bench/fuzz.sh): SharpFuzz feeds it AFL++'s inputs on stdin.
if (args is ["list"])
{
    Console.WriteLine(string.Join("\n", ParserTargets.All.Select(t => t.Name)));
    return 0;
}

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: copal-fuzz list | seeds TARGET DIR | run TARGET | replay TARGET FILE...");
    return 2;
}

// tmpfs where there is one: the harness writes every input to a file.
var scratch = Path.Combine(Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath(), $"copal-fuzz-{Environment.ProcessId}");
Directory.CreateDirectory(scratch);
try
{
    switch (args[0])
    {
        case "seeds" when args.Length == 3:
            Directory.CreateDirectory(args[2]);
            foreach (var (seed, i) in ParserTargets.Named(args[1]).Seeds().Select((s, i) => (s, i)))
            {
                File.WriteAllBytes(Path.Combine(args[2], $"seed-{i}"), seed);
            }

            return 0;
        case "run":
            // Out of process: a stack overflow or a hang kills only the child, which SharpFuzz restarts.
            // The target is looked up inside: Copal.Shared's module initializer is instrumented too, and
            // instrumented code may only run once SharpFuzz has mapped AFL++'s coverage memory.
            ParserTarget? fuzzed = null;

            // Loading libtorch takes over the one-second limit, so the frame target's first input would
            // time out: TorchSharp itself is not instrumented and may load first.
            TorchSharp.torch.empty(1).Dispose();
            Fuzzer.OutOfProcess.Run(stream =>
            {
                fuzzed ??= ParserTargets.Named(args[1]);
                using var input = new MemoryStream();
                stream.CopyTo(input);
                fuzzed.Run(input.ToArray(), scratch);
            });
            return 0;
        case "replay":
            foreach (var file in args.Skip(2))
            {
                Console.WriteLine($"{file}: {ParserTargets.Named(args[1]).Run(File.ReadAllBytes(file), scratch) ?? "accepted"}");
            }

            return 0;
        default:
            Console.Error.WriteLine($"unknown command '{args[0]}'");
            return 2;
    }
}
finally
{
    Directory.Delete(scratch, recursive: true);
}
