using System.IO.MemoryMappedFiles;
using TorchSharp;
using static TorchSharp.torch;

namespace Copal.Model;

/// <summary>
/// A memory-mapped safetensors file. Tensors are copied out one at a time on request, so a
/// checkpoint far larger than RAM can be read layer by layer; the OS pages the rest.
/// </summary>
public sealed unsafe class SafetensorsFile : IDisposable
{
    private readonly MemoryMappedFile? map;
    private readonly MemoryMappedViewAccessor? view;
    private readonly byte* basePointer;
    private readonly Dictionary<string, TensorEntry> byName;

    private SafetensorsFile(string path, SafetensorsHeader header, MemoryMappedFile? map, MemoryMappedViewAccessor? view)
    {
        Path = path;
        Header = header;
        this.map = map;
        this.view = view;
        byName = header.Tensors.ToDictionary(t => t.Name);
        if (view != null)
        {
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            basePointer = p + view.PointerOffset;
        }
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
        long length;
        using (var stream = File.OpenRead(path))
        {
            header = SafetensorsHeader.Read(path, stream);
            length = stream.Length;
        }

        // An empty data section cannot be mapped; nothing needs reading from it anyway.
        if (length == header.DataStart)
        {
            return new SafetensorsFile(path, header, null, null);
        }

        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        return new SafetensorsFile(path, header, map, view);
    }

    public bool Contains(string name) => byName.ContainsKey(name);

    public TensorEntry Entry(string name) =>
        byName.TryGetValue(name, out var e) ? e : throw new CopalInputException($"{Path}: no tensor named '{name}'");

    /// <summary>The raw stored bytes of a tensor, valid while this file is open.</summary>
    public ReadOnlySpan<byte> Bytes(TensorEntry entry)
    {
        if (entry.ByteLength == 0)
        {
            return ReadOnlySpan<byte>.Empty;
        }

        if (entry.ByteLength > int.MaxValue)
        {
            throw new CopalInputException($"{Path}: tensor '{entry.Name}' is over 2 GiB, which one read cannot hold");
        }

        return new ReadOnlySpan<byte>(basePointer + Header.DataStart + entry.Begin, (int)entry.ByteLength);
    }

    /// <summary>Reads a tensor in its stored dtype into a new CPU tensor.</summary>
    public Tensor Read(string name)
    {
        var entry = Entry(name);
        var t = empty(entry.Shape, entry.DType.ToScalarType());
        Bytes(entry).CopyTo(t.bytes);
        return t;
    }

    public void Dispose()
    {
        if (view != null)
        {
            view.SafeMemoryMappedViewHandle.ReleasePointer();
            view.Dispose();
        }

        map?.Dispose();
    }
}
