using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using Copal.Observability;
using Copal.Transport;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Copal.Tests;

public sealed class TransportTests(ITestOutputHelper output)
{
    private const string Host = "127.0.0.1";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    /// <summary>The ticket the listeners of these tests admit.</summary>
    private static readonly LinkTicket Ticket = LinkTicket.Draw(1);

    [Fact]
    public async Task FramesOfSeveralDtypesAndShapesRoundTripBitExact()
    {
        using var scope = NewDisposeScope();
        var sent = new List<ActivationFrame>
        {
            new(7, 1, FrameKind.Calibration, 0, 0, "wikitext-2", randn(2, 3)),
            new(7, 1, FrameKind.Calibration, 1, 2, "c4 ✓ ünïcode", randn([1, 5, 7], ScalarType.BFloat16)),
            new(7, 1, FrameKind.Calibration, 2, 3, string.Empty, randn([4], ScalarType.Float16)),
            new(7, 1, FrameKind.Evaluation, 3, 7, "ids", randint(-1_000_000_000_000, 1_000_000_000_000, [3, 2, 2, 2], ScalarType.Int64)),
            new(7, 1, FrameKind.Calibration, 4, 10, "scalar", tensor(3.25f)),
            new(7, 1, FrameKind.Calibration, 5, 11, "empty", empty([0, 8], ScalarType.BFloat16)),
            new(-3, int.MaxValue, FrameKind.Evaluation, long.MaxValue, long.MinValue, "eval", randn([2, 16, 32], ScalarType.BFloat16), randint(0, 32000, [2, 16], ScalarType.Int64)),
            ActivationFrame.EndOfStream(7, 1, 7, "done"),
        };

        await using var listener = Listen(4);
        Assert.NotEqual(0, listener.Port);
        await using var sender = await Connect(listener.Port);
        var sending = Task.Run(async () =>
        {
            foreach (var frame in sent)
            {
                await sender.SendAsync(frame);
            }
        });

        foreach (var expected in sent)
        {
            using var got = await listener.ReadAsync().AsTask().WaitAsync(Patience);
            Assert.Equal(expected.RunEpoch, got.RunEpoch);
            Assert.Equal(expected.Stage, got.Stage);
            Assert.Equal(expected.Kind, got.Kind);
            Assert.Equal(expected.Sequence, got.Sequence);
            Assert.Equal(expected.FirstSample, got.FirstSample);
            Assert.Equal(expected.Tag, got.Tag);
            AssertSameTensor(expected.Payload, got.Payload);
            AssertSameTensor(expected.Targets, got.Targets);
        }

        await sending.WaitAsync(Patience);
    }

    [Fact]
    public async Task HundredFramesArriveInOrder()
    {
        await using var listener = Listen(8);
        await using var sender = await Connect(listener.Port);
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < 100; i++)
            {
                using var payload = full([3, 5], (float)i);
                using var frame = new ActivationFrame(1, 2, FrameKind.Calibration, i, i * 3, "order", payload);
                await sender.SendAsync(frame);
            }
        });

        for (var i = 0; i < 100; i++)
        {
            using var frame = await listener.ReadAsync().AsTask().WaitAsync(Patience);
            Assert.Equal(i, frame.Sequence);
            Assert.Equal(i * 3, frame.FirstSample);
            Assert.Equal((float)i, frame.Payload!.max().item<float>());
            Assert.Equal((float)i, frame.Payload!.min().item<float>());
        }

        await sending.WaitAsync(Patience);
    }

    [Fact]
    public async Task EndOfStreamCarriesNoTensorAndACloseAfterItIsQuiet()
    {
        await using var listener = Listen(2);
        await using (var sender = await Connect(listener.Port))
        {
            using var end = ActivationFrame.EndOfStream(4, 0, 12);
            await sender.SendAsync(end);
        }

        using var got = await listener.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.Equal(FrameKind.EndOfStream, got.Kind);
        Assert.Equal(12, got.Sequence);
        Assert.Null(got.Payload);
        Assert.Null(got.Targets);

        using var quiet = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await listener.ReadAsync(quiet.Token));
    }

    [Fact]
    public async Task SlowConsumerHoldsTheSenderBack()
    {
        const int frames = 64;
        await using var listener = Listen(2);
        await using var sender = await Connect(listener.Port);
        using var payload = randn(256, 1024); // 1 MiB
        var completed = 0;
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < frames; i++)
            {
                using var frame = new ActivationFrame(1, 0, FrameKind.Calibration, i, i, "bp", payload.alias());
                await sender.SendAsync(frame);
                Interlocked.Increment(ref completed);
            }
        });

        // Wait until the sender makes no more progress.
        var clock = Stopwatch.StartNew();
        var seen = -1;
        while (clock.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(300);
            var now = Volatile.Read(ref completed);
            if (now == seen)
            {
                break;
            }

            seen = now;
        }

        output.WriteLine($"with window 2 and nothing read, {seen} of {frames} 1-MiB sends completed (the rest wait on TCP flow control)");
        Assert.False(sending.IsCompleted);
        Assert.InRange(seen, 2, frames / 2);

        for (var i = 0; i < frames; i++)
        {
            using var frame = await listener.ReadAsync().AsTask().WaitAsync(Patience);
            Assert.Equal(i, frame.Sequence);
        }

        await sending.WaitAsync(Patience);
    }

    [Fact]
    public async Task GarbageFailsTheConnectionClearlyAndTheListenerCarriesOn()
    {
        await using var listener = Listen(2);
        using (var raw = new TcpClient())
        {
            await raw.ConnectAsync(Host, listener.Port);
            await raw.GetStream().WriteAsync(Ticket.Encode());
            await raw.GetStream().WriteAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());

            var error = await Assert.ThrowsAsync<ActivationConnectionException>(async () => await listener.ReadAsync().AsTask().WaitAsync(Patience));
            output.WriteLine(error.Message);
            Assert.Contains("magic", error.Message);
            Assert.IsType<InvalidDataException>(error.InnerException);
            Assert.Null(error.Corruption);
        }

        await using var sender = await Connect(listener.Port);
        using var payload = randn(4);
        using var frame = new ActivationFrame(1, 0, FrameKind.Calibration, 0, 0, "after", payload);
        await sender.SendAsync(frame);
        using var got = await listener.ReadAsync().AsTask().WaitAsync(Patience);
        AssertSameTensor(payload, got.Payload);
    }

    /// <summary>One bit flipped anywhere in a frame's tensors or its checksum: the frame is rejected.</summary>
    [Fact]
    public async Task EveryFlippedBitOfTheTensorsOrTheChecksumIsDetected()
    {
        using var payload = randn(2, 3);
        using var targets = randint(0, 32000, [2], ScalarType.Int64);
        using var frame = new ActivationFrame(3, 1, FrameKind.Evaluation, 4, 0, "flip", payload, targets);
        var clean = Encode(frame);
        var tensorsAt = clean.Length - (int)frame.PayloadBytes() - 8;
        for (var bit = tensorsAt * 8; bit < clean.Length * 8; bit++)
        {
            var corrupted = (byte[])clean.Clone();
            corrupted[bit / 8] ^= (byte)(1 << (bit % 8));
            var error = await Assert.ThrowsAsync<FrameChecksumException>(() => ActivationWire.ReadAsync(new MemoryStream(corrupted)));
            Assert.Contains("Evaluation frame 4 (epoch 3, stage 1) is corrupted", error.Message);
            Assert.Equal(3, error.RunEpoch);
        }

        using var got = await ActivationWire.ReadAsync(new MemoryStream(clean));
        AssertSameTensor(payload, got!.Payload);
        AssertSameTensor(targets, got.Targets);
    }

    /// <summary>A corrupted frame on a connection: the frames before it arrive, it never does, and the failure says so.</summary>
    [Fact]
    public async Task ACorruptedFrameFailsItsConnectionAndIsNeverDelivered()
    {
        using var payload = randn(64, 64);
        using var good = new ActivationFrame(1, 0, FrameKind.Calibration, 0, 0, "good", payload);
        using var bad = new ActivationFrame(1, 0, FrameKind.Calibration, 1, 64, "bad", payload);
        var first = Encode(good);
        var second = Encode(bad);
        second[second.Length - 8 - (int)bad.PayloadBytes() / 2] ^= 0x10;

        await using var listener = Listen(4);
        using (var raw = new TcpClient())
        {
            await raw.ConnectAsync(Host, listener.Port);
            await raw.GetStream().WriteAsync(Ticket.Encode());
            await raw.GetStream().WriteAsync(first.Concat(second).ToArray());
            using var delivered = await listener.ReadAsync().AsTask().WaitAsync(Patience);
            Assert.Equal("good", delivered.Tag);
            var error = await Assert.ThrowsAsync<ActivationConnectionException>(async () => await listener.ReadAsync().AsTask().WaitAsync(Patience));
            output.WriteLine(error.Message);
            Assert.Equal(1, error.Corruption?.RunEpoch);
            Assert.Contains("Calibration frame 1 (epoch 1, stage 0) is corrupted", error.Message);
        }

        await using var sender = await Connect(listener.Port);
        await sender.SendAsync(bad);
        using var resent = await listener.ReadAsync().AsTask().WaitAsync(Patience);
        AssertSameTensor(payload, resent.Payload);
    }

    [Fact]
    public async Task AbsurdSizesInAValidLookingHeaderAreRejected()
    {
        using var payload = randn(2, 3);
        using var frame = new ActivationFrame(1, 0, FrameKind.Calibration, 0, 0, string.Empty, payload);
        var bytes = Encode(frame);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(39 + 1 + 2), 1L << 40); // first dim of the payload

        await using var listener = Listen(2);
        using var raw = new TcpClient();
        await raw.ConnectAsync(Host, listener.Port);
        await raw.GetStream().WriteAsync(Ticket.Encode());
        await raw.GetStream().WriteAsync(bytes);

        var error = await Assert.ThrowsAsync<ActivationConnectionException>(async () => await listener.ReadAsync().AsTask().WaitAsync(Patience));
        output.WriteLine(error.Message);
        Assert.Contains("invalid shape", error.Message);
    }

    [Fact]
    public async Task WireRejectsWrongVersionAndTooManyTensors()
    {
        using var payload = randn(2, 3);
        using var frame = new ActivationFrame(1, 0, FrameKind.Calibration, 0, 0, string.Empty, payload);

        var version = Encode(frame);
        version[4] = 9;
        var e1 = await Assert.ThrowsAsync<InvalidDataException>(() => ActivationWire.ReadAsync(new MemoryStream(version)));
        Assert.Contains("version 9", e1.Message);

        var count = Encode(frame);
        count[39] = 5;
        var e2 = await Assert.ThrowsAsync<InvalidDataException>(() => ActivationWire.ReadAsync(new MemoryStream(count)));
        Assert.Contains("5 tensors", e2.Message);

        Assert.Null(await ActivationWire.ReadAsync(new MemoryStream()));
    }

    [Fact]
    public async Task DisconnectsMidFrameOrWithoutEndOfStreamSurface()
    {
        using var payload = randn(64, 64);
        using var frame = new ActivationFrame(1, 0, FrameKind.Calibration, 0, 0, "cut", payload);
        var bytes = Encode(frame);

        await using var listener = Listen(2);
        using (var raw = new TcpClient())
        {
            await raw.ConnectAsync(Host, listener.Port);
            await raw.GetStream().WriteAsync(Ticket.Encode());
            await raw.GetStream().WriteAsync(bytes.AsMemory(0, bytes.Length / 2));
        }

        var cut = await Assert.ThrowsAsync<ActivationConnectionException>(async () => await listener.ReadAsync().AsTask().WaitAsync(Patience));
        output.WriteLine(cut.Message);
        Assert.IsType<EndOfStreamException>(cut.InnerException);

        await using (var sender = await Connect(listener.Port))
        {
            await sender.SendAsync(frame);
        }

        using (var first = await listener.ReadAsync().AsTask().WaitAsync(Patience))
        {
            AssertSameTensor(payload, first.Payload);
        }

        var closed = await Assert.ThrowsAsync<ActivationConnectionException>(async () => await listener.ReadAsync().AsTask().WaitAsync(Patience));
        output.WriteLine(closed.Message);
        Assert.Contains("without sending EndOfStream", closed.Message);
    }

    [Fact]
    public async Task DisposingTheListenerEndsReadsAndFailsTheSender()
    {
        var listener = Listen(1);
        await using var sender = await Connect(listener.Port);
        var pending = listener.ReadAsync().AsTask();
        await Task.Delay(100);
        await listener.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending.WaitAsync(Patience));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await listener.ReadAsync());

        using var payload = randn(256, 1024);
        using var frame = new ActivationFrame(1, 0, FrameKind.Calibration, 0, 0, "late", payload);
        var failed = await Assert.ThrowsAsync<IOException>(async () =>
        {
            for (var i = 0; i < 1000; i++)
            {
                await sender.SendAsync(frame).WaitAsync(Patience);
            }
        });
        output.WriteLine(failed.Message);
    }

    [Fact]
    public async Task SenderRetriesUntilALateListenerStartsAndTimesOutOtherwise()
    {
        int port;
        using (var probe = new TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        }

        var timeout = await Assert.ThrowsAsync<TimeoutException>(() => Connect(port, TimeSpan.FromMilliseconds(400)));
        output.WriteLine(timeout.Message);

        var connecting = Connect(port, TimeSpan.FromSeconds(10));
        await Task.Delay(500);
        Assert.False(connecting.IsCompleted);
        await using var listener = Listen(2, port);
        await using var sender = await connecting.WaitAsync(Patience);
        using var end = ActivationFrame.EndOfStream(1, 0, 0);
        await sender.SendAsync(end);
        using var got = await listener.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.Equal(FrameKind.EndOfStream, got.Kind);
    }

    [Fact]
    public void FramesRejectTensorsThatCannotTravel()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentException>(() => new ActivationFrame(1, 0, FrameKind.Calibration, 0, 0, "t", randn(4, 5).t()));
        Assert.Throws<ArgumentException>(() => new ActivationFrame(1, 0, FrameKind.Calibration, 0, 0, "t", zeros([4], ScalarType.Int32)));
        Assert.Throws<ArgumentException>(() => new ActivationFrame(1, 0, FrameKind.Evaluation, 0, 0, "t", null, zeros([4], ScalarType.Int64)));
    }

    [Fact]
    public async Task StreamsAGibibyteByteExact()
    {
        const int frames = 256;
        const int floats = 1 << 20; // 4 MiB per frame
        using var payload = randn(floats);
        using var sent = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (var i = 0; i < frames; i++)
        {
            Stamp(payload, i);
            sent.AppendData(payload.bytes);
        }

        await using var listener = Listen(4);
        await using var sender = await Connect(listener.Port);
        var clock = Stopwatch.StartNew();
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < frames; i++)
            {
                Stamp(payload, i); // safe: the previous send has completed
                using var frame = new ActivationFrame(1, 1, FrameKind.Calibration, i, i * 4L, "bulk", payload.alias());
                await sender.SendAsync(frame);
            }
        });

        using var received = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long bytes = 0;
        for (var i = 0; i < frames; i++)
        {
            using var frame = await listener.ReadAsync().AsTask().WaitAsync(Patience);
            Assert.Equal(i, frame.Sequence);
            received.AppendData(frame.Payload!.bytes);
            bytes += frame.Payload.bytes.Length;
        }

        await sending.WaitAsync(Patience);
        clock.Stop();
        output.WriteLine($"{bytes / (1 << 20)} MiB in {clock.Elapsed.TotalSeconds:0.000} s = {bytes / 1e6 / clock.Elapsed.TotalSeconds:0} MB/s (loopback, including the receiver's SHA-256)");
        Assert.Equal(1L << 30, bytes);
        Assert.Equal(Convert.ToHexString(sent.GetHashAndReset()), Convert.ToHexString(received.GetHashAndReset()));
    }

    /// <summary>
    /// Only the holder of the current assignment's ticket opens a data connection: no ticket, another
    /// link's key and an epoch that is over are refused, logged and counted, and none of their
    /// frames is read. An upstream that comes before its downstream's assignment waits for it.
    /// </summary>
    [Fact]
    public async Task OnlyTheAssignedUpstreamOfTheCurrentEpochIsAdmitted()
    {
        CopalMetrics.Initialise();
        var refused = () => CopalMetrics.RefusalReasons.ToDictionary(r => r, r => CopalMetrics.DataConnectionsRefused.WithLabels(r).Value);
        var before = refused();
        var upstream = LinkTicket.Draw(2);
        await using var listener = new ActivationListener(Host, 0, window: 4);
        listener.Admit(upstream);
        using var payload = randn(8);

        using (var noTicket = new TcpClient())
        {
            await noTicket.ConnectAsync(Host, listener.Port);
            using var frame = new ActivationFrame(2, 1, FrameKind.Calibration, 0, 0, "no ticket", payload.alias());
            await noTicket.GetStream().WriteAsync(Encode(frame));
        }

        await using var otherMember = await ActivationSender.ConnectAsync(Host, listener.Port, LinkTicket.Draw(2));
        await using var lastEpoch = await ActivationSender.ConnectAsync(Host, listener.Port, upstream with { Epoch = 1 });
        foreach (var rogue in new[] { otherMember, lastEpoch })
        {
            using var frame = new ActivationFrame(2, 1, FrameKind.Calibration, 0, 0, "rogue", payload.alias());
            try
            {
                await rogue.SendAsync(frame);
            }
            catch (IOException)
            {
                // Refused before the frame went out.
            }
        }

        await WaitForAsync(() => refused()["upstream"] - before["upstream"] == 2 && refused()["ticket"] - before["ticket"] == 1);

        // The next epoch's upstream may come first: it is admitted once this node takes that assignment.
        var next = LinkTicket.Draw(3);
        var early = ActivationSender.ConnectAsync(Host, listener.Port, next);
        await using (var current = await ActivationSender.ConnectAsync(Host, listener.Port, upstream))
        {
            using var frame = new ActivationFrame(2, 1, FrameKind.Calibration, 0, 0, "upstream", payload.alias());
            await current.SendAsync(frame);
            using var got = await listener.ReadAsync().AsTask().WaitAsync(Patience);
            Assert.Equal("upstream", got.Tag);
            AssertSameTensor(payload, got.Payload);
            using var end = ActivationFrame.EndOfStream(2, 1, 1);
            await current.SendAsync(end);
            using var ended = await listener.ReadAsync().AsTask().WaitAsync(Patience);
            Assert.Equal(FrameKind.EndOfStream, ended.Kind);
        }

        await Task.Delay(300);
        listener.Admit(next);
        await using (var sender = await early.WaitAsync(Patience))
        {
            using var frame = new ActivationFrame(3, 1, FrameKind.Calibration, 0, 0, "early", payload.alias());
            await sender.SendAsync(frame);
            using var got = await listener.ReadAsync().AsTask().WaitAsync(Patience);
            Assert.Equal("early", got.Tag);
        }

        var after = refused();
        Assert.Equal(2, after["upstream"] - before["upstream"]);
        Assert.Equal(1, after["ticket"] - before["ticket"]);
    }

    private static ActivationListener Listen(int window, int port = 0)
    {
        var listener = new ActivationListener(Host, port, window);
        listener.Admit(Ticket);
        return listener;
    }

    private static Task<ActivationSender> Connect(int port, TimeSpan? timeout = null) =>
        ActivationSender.ConnectAsync(Host, port, Ticket, connectTimeout: timeout);

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not come true in time");
            await Task.Delay(20);
        }
    }

    private static byte[] Encode(ActivationFrame frame)
    {
        using var buffer = new MemoryStream();
        ActivationWire.WriteAsync(buffer, frame).GetAwaiter().GetResult();
        return buffer.ToArray();
    }

    private static void Stamp(Tensor payload, long index) =>
        BinaryPrimitives.WriteInt64LittleEndian(payload.bytes, index);

    private static void AssertSameTensor(Tensor? expected, Tensor? actual)
    {
        if (expected is null)
        {
            Assert.Null(actual);
            return;
        }

        Assert.NotNull(actual);
        Assert.Equal(expected.dtype, actual.dtype);
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(expected.bytes.SequenceEqual(actual.bytes), "tensor bytes differ");
    }
}
