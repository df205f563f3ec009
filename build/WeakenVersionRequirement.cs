using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

// Sets VER_FLG_WEAK on the Vernaux entry naming Version in each ELF64 file, unless the
// system libstdc++ already provides that version. Idempotent; a 2-byte edit in place.
public class CopalWeakenGlibcxxRequirement : Task
{
    public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();
    public string Version { get; set; } = "";

    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    public override bool Execute()
    {
        if (SystemProvides(Version))
        {
            Log.LogMessage(MessageImportance.Low, "System libstdc++ provides " + Version + "; nothing to patch.");
            return true;
        }
        foreach (var item in Files)
        {
            var path = item.ItemSpec;
            try
            {
                var outcome = Patch(path, Version);
                Log.LogMessage(MessageImportance.Normal, path + ": " + outcome);
            }
            catch (Exception e)
            {
                Log.LogError("Cannot patch " + path + ": " + e.Message);
                return false;
            }
        }
        return true;
    }

    static bool SystemProvides(string version)
    {
        string[] candidates =
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
            "/usr/lib64/libstdc++.so.6", "/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
        };
        var needle = Encoding.ASCII.GetBytes(version + "\0");
        foreach (var c in candidates)
        {
            if (!File.Exists(c)) continue;
            var bytes = File.ReadAllBytes(c);
            return IndexOf(bytes, needle) >= 0;
        }
        return false;
    }

    static int IndexOf(byte[] hay, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= hay.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && hay[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }

    static string Patch(string path, string version)
    {
        var b = File.ReadAllBytes(path);
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F' || b[4] != 2 || b[5] != 1)
            throw new InvalidDataException("not a little-endian ELF64 file");
        long shoff = BitConverter.ToInt64(b, 0x28);
        int shentsize = BitConverter.ToUInt16(b, 0x3A);
        int shnum = BitConverter.ToUInt16(b, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * shentsize;
            if (BitConverter.ToUInt32(b, (int)sh + 4) != ShtGnuVerneed) continue;
            long offset = BitConverter.ToInt64(b, (int)sh + 0x18);
            int link = (int)BitConverter.ToUInt32(b, (int)sh + 0x28);
            int count = (int)BitConverter.ToUInt32(b, (int)sh + 0x2C);
            long strtab = BitConverter.ToInt64(b, (int)(shoff + (long)link * shentsize) + 0x18);
            long vn = offset;
            for (int i = 0; i < count; i++)
            {
                int cnt = BitConverter.ToUInt16(b, (int)vn + 2);
                long aux = vn + BitConverter.ToUInt32(b, (int)vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    long name = strtab + BitConverter.ToUInt32(b, (int)aux + 8);
                    if (CString(b, name) == version)
                    {
                        ushort flags = BitConverter.ToUInt16(b, (int)aux + 4);
                        if ((flags & VerFlgWeak) != 0) return version + " already weak";
                        flags |= VerFlgWeak;
                        using (var f = new FileStream(path, FileMode.Open, FileAccess.Write))
                        {
                            f.Seek(aux + 4, SeekOrigin.Begin);
                            f.Write(BitConverter.GetBytes(flags), 0, 2);
                        }
                        return version + " marked weak";
                    }
                    aux += BitConverter.ToUInt32(b, (int)aux + 12);
                }
                vn += BitConverter.ToUInt32(b, (int)vn + 12);
            }
        }
        return "no requirement on " + version;
    }

    static string CString(byte[] b, long at)
    {
        int end = (int)at;
        while (b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, (int)at, end - (int)at);
    }
}
