using System.Text.Json;

namespace Copal.Model;

/// <summary>
/// The `rope_scaling` of config.json: how the rotary inverse frequencies are stretched for long
/// contexts. Only the types the protocol defines (`linear`, `llama3`) exist; any other is refused.
/// </summary>
public abstract record RopeScaling
{
    /// <summary>The scaled inverse frequency, in float32 with Hugging Face's order of operations.</summary>
    public abstract float Scale(float invFreq);

    /// <summary>Reads a rope_scaling object; the type is "rope_type", else the legacy "type".</summary>
    public static RopeScaling Parse(string path, JsonElement scaling)
    {
        if (scaling.ValueKind != JsonValueKind.Object)
        {
            throw new CopalInputException($"{path}: rope_scaling must be an object, got {scaling.GetRawText()}");
        }

        var type = TypeOf(scaling) ?? throw new CopalInputException($"{path}: rope_scaling has no rope_type (got {scaling.GetRawText()})");
        double Number(string name) =>
            scaling.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && d > 0
                ? d
                : throw new CopalInputException($"{path}: rope_scaling ({type}) needs {name} as a positive number, got {(scaling.TryGetProperty(name, out var raw) ? raw.GetRawText() : "nothing")}");

        return type switch
        {
            "linear" => new LinearRopeScaling(Number("factor")),
            "llama3" => Llama3RopeScaling.Create(path, Number("factor"), Number("low_freq_factor"), Number("high_freq_factor"), Number("original_max_position_embeddings")),
            _ => throw new CopalInputException($"{path}: rope_scaling type '{type}' is not supported (only linear and llama3 are)"),
        };
    }

    private static string? TypeOf(JsonElement scaling)
    {
        foreach (var key in new[] { "rope_type", "type" })
        {
            if (scaling.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String)
            {
                return v.GetString();
            }
        }

        return null;
    }
}

/// <summary>`linear` (position interpolation): every inverse frequency divided by the factor.</summary>
public sealed record LinearRopeScaling(double Factor) : RopeScaling
{
    public override float Scale(float invFreq) => invFreq / (float)Factor;
}

/// <summary>
/// `llama3`: wavelengths longer than C / low_freq_factor are divided by the factor, shorter than
/// C / high_freq_factor kept, and those between blended smoothly (C: original_max_position_embeddings).
/// </summary>
public sealed record Llama3RopeScaling(double Factor, double LowFreqFactor, double HighFreqFactor, int OriginalMaxPositionEmbeddings) : RopeScaling
{
    public static Llama3RopeScaling Create(string path, double factor, double lowFreqFactor, double highFreqFactor, double originalMaxPositions)
    {
        if (highFreqFactor <= lowFreqFactor)
        {
            throw new CopalInputException($"{path}: rope_scaling (llama3) needs high_freq_factor {highFreqFactor} above low_freq_factor {lowFreqFactor}");
        }

        if (originalMaxPositions != Math.Floor(originalMaxPositions) || originalMaxPositions > int.MaxValue)
        {
            throw new CopalInputException($"{path}: rope_scaling (llama3) needs original_max_position_embeddings as a positive integer, got {originalMaxPositions}");
        }

        return new Llama3RopeScaling(factor, lowFreqFactor, highFreqFactor, (int)originalMaxPositions);
    }

    public override float Scale(float invFreq)
    {
        // As transformers' _compute_llama3_parameters: tensor ops in float32, the Python scalars
        // (the wavelength bounds, hi - lo) in double and cast where they meet the tensor.
        float context = OriginalMaxPositionEmbeddings;
        var wavelen = (float)(2 * Math.PI) / invFreq;
        if (wavelen > (float)(OriginalMaxPositionEmbeddings / LowFreqFactor))
        {
            return invFreq / (float)Factor;
        }

        if (wavelen < (float)(OriginalMaxPositionEmbeddings / HighFreqFactor))
        {
            return invFreq;
        }

        var smooth = ((context / wavelen) - (float)LowFreqFactor) / (float)(HighFreqFactor - LowFreqFactor);
        return ((1 - smooth) * invFreq / (float)Factor) + (smooth * invFreq);
    }
}
