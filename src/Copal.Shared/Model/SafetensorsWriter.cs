using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using static TorchSharp.torch;

namespace Copal.Model;

/// <summary>
/// Streams tensors into a safetensors file in a layout fixed up front (so the header can be
/// written first and tensors can arrive one layer at a time). The file appears under its final
/// name only on <see cref="Commit"/>; its sha256 is computed on the way.
/// <para>
/// Writing, hashing and flushing to disk happen on a background thread, in order, so a stage's
/// files go to disk while the next layer computes. At most <see cref="MaxPendingBytes"/> of
/// tensors wait for it (beyond that <see cref="Write(string, Tensor)"/> waits). A tensor already
/// in its stored dtype is not copied: it must not change until <see cref="Commit"/>.
/// </para>
/// </summary>
public sealed class SafetensorsWriter : IDisposable
{
    /// <summary>Tensor bytes that may wait for the background writer.</summary>
    public const long MaxPendingBytes = 256L << 20;

    /// <summary>Tensors at least this big are flushed to disk as soon as they are written.</summary>
    private const long FlushBytes = 16L << 20;

    private readonly string path;
    private readonly string tempPath;
    private readonly FileStream stream;
    private readonly IncrementalHash hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly IReadOnlyList<TensorEntry> layout;
    private readonly Queue<Job> jobs = new();
    private readonly object gate = new();
    private Thread? worker;
    private long pendingBytes;
    private bool closing;
    private Exception? failure;
    private int next;
    private bool committed;

    public SafetensorsWriter(string path, IReadOnlyList<(string Name, StorageType DType, long[] Shape)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        this.path = path;
        tempPath = AtomicFile.TempPathFor(path);
        var entries = new List<TensorEntry>(tensors.Count);
        long offset = 0;
        foreach (var (name, dtype, shape) in tensors)
        {
            var bytes = shape.Aggregate(1L, (a, b) => a * b) * dtype.ByteSize();
            entries.Add(new TensorEntry(name, dtype, shape, offset, offset + bytes));
            offset += bytes;
        }

        layout = entries;
        stream = new FileStream(tempPath, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        WriteRaw(HeaderBytes(entries, metadata));
    }

    public IReadOnlyList<TensorEntry> Layout => layout;

    /// <summary>Appends the next tensor of the layout, converted to its stored dtype (written in the background).</summary>
    public void Write(string name, Tensor tensor)
    {
        var entry = Expect(name);
        Tensor stored;
        using (var scope = NewDisposeScope())
        {
            stored = TensorMemory.OnCpu(tensor, entry.DType.ToScalarType());
            if (!stored.shape.SequenceEqual(entry.Shape))
            {
                throw new InvalidOperationException($"{path}: tensor '{name}' has shape [{string.Join(", ", stored.shape)}], layout says {entry.ShapeText}");
            }

            // An alias of the caller's tensor (or its converted copy), owned by the writer from here.
            stored = stored.alias().DetachFromDisposeScope();
        }

        Enqueue(new Job(() => WriteRaw(stored.bytes), stored.Dispose, entry.ByteLength));
        next++;
    }

    /// <summary>Appends the next tensor of the layout as raw stored bytes (a verbatim copy).</summary>
    public void Write(string name, ReadOnlySpan<byte> bytes)
    {
        var entry = Expect(name);
        if (bytes.Length != entry.ByteLength)
        {
            throw new InvalidOperationException($"{path}: tensor '{name}' has {bytes.Length} bytes, layout says {entry.ByteLength}");
        }

        var copy = bytes.ToArray();
        Enqueue(new Job(() => WriteRaw(copy), null, copy.Length));
        next++;
    }

    /// <summary>Appends the next tensor of the layout as a verbatim copy of the same tensor in another file, streamed in chunks (the file must stay open until <see cref="Commit"/>).</summary>
    public void Copy(string name, SafetensorsFile source)
    {
        var entry = Expect(name);
        var from = source.Entry(name);
        if (from.ByteLength != entry.ByteLength)
        {
            throw new InvalidOperationException($"{path}: tensor '{name}' has {from.ByteLength} bytes in {source.Path}, layout says {entry.ByteLength}");
        }

        Enqueue(new Job(() => source.CopyTo(from, WriteRaw), null, 0));
        next++;
    }

    /// <summary>Waits for the background writes, flushes to disk and renames into place durably. Returns the file's sha256 (lowercase hex).</summary>
    public string Commit()
    {
        if (next != layout.Count)
        {
            throw new InvalidOperationException($"{path}: {layout.Count - next} tensors were never written");
        }

        Drain();
        stream.Flush(flushToDisk: true);
        stream.Dispose();
        File.Move(tempPath, path, overwrite: true);
        DirectorySync.FlushParent(path);
        committed = true;
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public void Dispose()
    {
        try
        {
            Drain();
        }
        catch (Exception) when (!committed)
        {
            // The file is abandoned: what went wrong writing it no longer matters.
        }

        try
        {
            stream.Dispose();
        }
        catch (IOException) when (!committed)
        {
            // Closing flushes the buffer, which fails again on a full disk; the handle is closed
            // all the same, and the error that stopped the writer was already raised.
        }

        hash.Dispose();
        if (!committed)
        {
            File.Delete(tempPath);
        }
    }

    private sealed record Job(Action Run, Action? Release, long Bytes);

    private void Enqueue(Job job)
    {
        lock (gate)
        {
            while (failure is null && pendingBytes > 0 && pendingBytes + job.Bytes > MaxPendingBytes)
            {
                Monitor.Wait(gate);
            }

            if (failure is not null)
            {
                job.Release?.Invoke();
                throw new IOException($"{path}: writing failed: {failure.Message}", failure);
            }

            pendingBytes += job.Bytes;
            jobs.Enqueue(job);
            if (worker is null)
            {
                worker = new Thread(Work) { IsBackground = true, Name = "safetensors writer" };
                worker.Start();
            }

            Monitor.PulseAll(gate);
        }
    }

    private void Work()
    {
        while (true)
        {
            Job job;
            lock (gate)
            {
                while (jobs.Count == 0 && !closing)
                {
                    Monitor.Wait(gate);
                }

                if (jobs.Count == 0)
                {
                    return;
                }

                job = jobs.Dequeue();
            }

            try
            {
                if (failure is null)
                {
                    job.Run();
                    if (job.Bytes >= FlushBytes)
                    {
                        stream.Flush(flushToDisk: true);
                    }
                }
            }
            catch (Exception e)
            {
                lock (gate)
                {
                    failure ??= e;
                }
            }
            finally
            {
                job.Release?.Invoke();
                lock (gate)
                {
                    pendingBytes -= job.Bytes;
                    Monitor.PulseAll(gate);
                }
            }
        }
    }

    /// <summary>Waits until every queued write is done; rethrows the first failure.</summary>
    private void Drain()
    {
        Thread? running;
        lock (gate)
        {
            closing = true;
            running = worker;
            Monitor.PulseAll(gate);
        }

        running?.Join();
        lock (gate)
        {
            worker = null;
            closing = false;
            if (failure is not null)
            {
                throw new IOException($"{path}: writing failed: {failure.Message}", failure);
            }
        }
    }

    private TensorEntry Expect(string name)
    {
        if (next >= layout.Count || layout[next].Name != name)
        {
            var expected = next < layout.Count ? layout[next].Name : "nothing more";
            throw new InvalidOperationException($"{path}: wrote '{name}' where the layout expects {expected}");
        }

        return layout[next];
    }

    private void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        stream.Write(bytes);
        hash.AppendData(bytes);
    }

    private static byte[] HeaderBytes(IReadOnlyList<TensorEntry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        using var json = new MemoryStream();
        using (var w = new Utf8JsonWriter(json))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata)
                {
                    w.WriteString(k, v);
                }

                w.WriteEndObject();
            }

            foreach (var e in entries)
            {
                w.WriteStartObject(e.Name);
                w.WriteString("dtype", e.DType.Name());
                w.WriteStartArray("shape");
                foreach (var d in e.Shape)
                {
                    w.WriteNumberValue(d);
                }

                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(e.Begin);
                w.WriteNumberValue(e.End);
                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndObject();
        }

        // The format pads the header with spaces so the data section starts 8-byte aligned.
        var padded = (json.Length + 7) / 8 * 8;
        var header = new byte[8 + padded];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)padded);
        json.GetBuffer().AsSpan(0, (int)json.Length).CopyTo(header.AsSpan(8));
        header.AsSpan(8 + (int)json.Length).Fill((byte)' ');
        return header;
    }
}
