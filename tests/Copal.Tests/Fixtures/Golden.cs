using System.Text.Json;

namespace Copal.Tests;

/// <summary>Figures from the independent reference implementation (tests/assets/golden).</summary>
public static class Golden
{
    private static readonly Lazy<JsonElement> TinyMixDoc = new(() => Load("tiny-mix.json"));

    private static readonly Lazy<JsonElement> TinyL3Doc = new(() => Load("tiny-l3.json"));

    public static JsonElement TinyMix => TinyMixDoc.Value;

    public static JsonElement TinyL3 => TinyL3Doc.Value;

    public static JsonElement Load(string name) => JsonDocument.Parse(File.ReadAllBytes(RepoPaths.Golden(name))).RootElement;

    public static double[] Doubles(JsonElement array) => array.EnumerateArray().Select(e => e.GetDouble()).ToArray();

    public static long[] Longs(JsonElement array) => array.EnumerateArray().Select(e => e.GetInt64()).ToArray();
}
