namespace Copal.Stages;

/// <summary>What a stage directory holds of its weights (`--store`).</summary>
public enum StageStore
{
    /// <summary>Every tensor: a self-contained Hugging Face checkpoint.</summary>
    Full,

    /// <summary>
    /// A keep-mask per linear and a reference to the base checkpoint (<see cref="Model.MaskedCheckpoint"/>),
    /// for methods that change no weight; the others' stages are stored in full all the same.
    /// </summary>
    Masks,
}

public static class StageStores
{
    public static StageStore Parse(string text) => text switch
    {
        "full" => StageStore.Full,
        "masks" => StageStore.Masks,
        _ => throw new CopalInputException($"--store must be full or masks, got '{text}'"),
    };
}
