using System.Buffers;
using Microsoft.Win32.SafeHandles;
using static TorchSharp.torch;

namespace Copal.Model;

/// <summary>
/// A safetensors file opened for reading. Tensors are read one at a time on request, with
/// positioned reads into the tensor's own memory, so a checkpoint far larger than RAM can be
/// read layer by layer and nothing of the file stays resident in this process (the page cache
/// is the kernel's, not the process's).
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    private const int CopyChunk = 4 << 20;

    private readonly SafeFileHandle handle;
    private readonly Dictionary<string, TensorEntry> byName;

    private SafetensorsFile(string path, SafetensorsHeader header, SafeFileHandle handle)
    {
        Path = path;
        Header = header;
        this.handle = handle;
        byName = header.Tensors.ToDictionary(t => t.Name);
    }

    public string Path { get; }

    public SafetensorsHeader Header { get; }

    public IEnumerable<TensorEntry> Tensors => Header.Tensors;

    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path))
        {
            throw new CopalInputException($"{path}: file not found");
        }

        SafetensorsHeader header;
        using (var stream = File.OpenRead(path))
        {
            header = SafetensorsHeader.Read(path, stream);
        }

        return new SafetensorsFile(path, header, File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete));
    }

    public bool Contains(string name) => byName.ContainsKey(name);

    public TensorEntry Entry(string name) =>
        byName.TryGetValue(name, out var e) ? e : throw new CopalInputException($"{Path}: no tensor named '{name}'");

    /// <summary>Reads a tensor in its stored dtype into a new CPU tensor.</summary>
    public Tensor Read(string name)
    {
        var entry = Entry(name);
        CheckSize(entry, entry.ByteLength);
        var t = TensorMemory.EmptyOnHugePages(entry.Shape, entry.DType.ToScalarType());
        if (entry.ByteLength > 0)
        {
            ReadExactly(t.bytes, Header.DataStart + entry.Begin);
        }

        return t;
    }

    /// <summary>Rows of a 2-D tensor (e.g. embedding rows of token ids), in its stored dtype: [rows, columns].</summary>
    public Tensor ReadRows(string name, IReadOnlyList<long> rows)
    {
        var entry = Entry(name);
        if (entry.Shape.Length != 2)
        {
            throw new ArgumentException($"{Path}: tensor '{name}' is not a matrix", nameof(name));
        }

        var rowBytes = entry.Shape[1] * entry.DType.ByteSize();
        CheckSize(entry, rowBytes * rows.Count);
        var t = empty([rows.Count, entry.Shape[1]], entry.DType.ToScalarType());
        var target = t.bytes;
        for (var i = 0; i < rows.Count; i++)
        {
            if (rows[i] < 0 || rows[i] >= entry.Shape[0])
            {
                t.Dispose();
                throw new CopalInputException($"{Path}: row {rows[i]} is outside '{name}', which has {entry.Shape[0]} rows");
            }

            ReadExactly(target.Slice((int)(i * rowBytes), (int)rowBytes), Header.DataStart + entry.Begin + (rows[i] * rowBytes));
        }

        return t;
    }

    /// <summary>Streams a tensor's stored bytes to <paramref name="sink"/> in chunks (a verbatim copy without holding it whole).</summary>
    public void CopyTo(TensorEntry entry, Action<ReadOnlySpan<byte>> sink)
    {
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Min(CopyChunk, Math.Max(1, entry.ByteLength)));
        try
        {
            for (long done = 0; done < entry.ByteLength;)
            {
                var chunk = (int)Math.Min(buffer.Length, entry.ByteLength - done);
                ReadExactly(buffer.AsSpan(0, chunk), Header.DataStart + entry.Begin + done);
                sink(buffer.AsSpan(0, chunk));
                done += chunk;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public void Dispose() => handle.Dispose();

    private void ReadExactly(Span<byte> target, long offset)
    {
        while (!target.IsEmpty)
        {
            var read = RandomAccess.Read(handle, target, offset);
            if (read <= 0)
            {
                throw new CopalInputException($"{Path}: the file ends before offset {offset}");
            }

            target = target[read..];
            offset += read;
        }
    }

    private void CheckSize(TensorEntry entry, long bytes)
    {
        if (bytes > int.MaxValue)
        {
            throw new CopalInputException($"{Path}: tensor '{entry.Name}' is over 2 GiB, which one read cannot hold");
        }
    }
}
