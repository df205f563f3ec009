using System.Security.Cryptography;

namespace Copal.Model;

/// <summary>The sha256 of a file's bytes (lowercase hex), as journals and stage references record it.</summary>
public static class FileDigest
{
    public static string Sha256(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
