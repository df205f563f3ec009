using Copal.Model;
using Xunit;

namespace Copal.Tests;

/// <summary>The fsync that makes a rename durable: it succeeds on a directory and names the path when it cannot.</summary>
public class DirectorySyncTests
{
    [Fact]
    public void ADirectoryIsFlushed()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("a"), "a");
        File.Move(dir.File("a"), dir.File("b"));

        DirectorySync.Flush(dir.Path);
        DirectorySync.FlushParent(dir.File("b"));
    }

    [Fact]
    public void AMissingDirectoryOrAFileIsAClearIOException()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("file"), "x");

        var missing = Assert.Throws<IOException>(() => DirectorySync.Flush(dir.File("missing")));
        Assert.Contains(dir.File("missing"), missing.Message);
        Assert.Contains("No such file or directory", missing.Message);

        var file = Assert.Throws<IOException>(() => DirectorySync.Flush(dir.File("file")));
        Assert.Contains(dir.File("file"), file.Message);
        Assert.Contains("Not a directory", file.Message);
    }
}
