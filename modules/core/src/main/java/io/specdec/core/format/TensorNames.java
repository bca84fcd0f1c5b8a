package io.specdec.core.format;

/** How one file format names the weights of a Llama-family model. */
public interface TensorNames {

    /** The per-layer tensors, in the order a forward pass uses them. */
    enum LayerPart { ATTENTION_NORM, WQ, WK, WV, WO, BQ, BK, BV, Q_NORM, K_NORM, FFN_NORM, GATE, UP, DOWN }

    String embedding();

    String finalNorm();

    String output();

    String layer(int layer, LayerPart part);

    /** HuggingFace transformers (Llama, Mistral, Qwen2, Qwen3). */
    TensorNames HUGGING_FACE = new TensorNames() {
        @Override public String embedding() { return "model.embed_tokens.weight"; }

        @Override public String finalNorm() { return "model.norm.weight"; }

        @Override public String output() { return "lm_head.weight"; }

        @Override public String layer(int layer, LayerPart part) {
            String p = "model.layers." + layer + ".";
            return p + switch (part) {
                case ATTENTION_NORM -> "input_layernorm.weight";
                case WQ -> "self_attn.q_proj.weight";
                case WK -> "self_attn.k_proj.weight";
                case WV -> "self_attn.v_proj.weight";
                case WO -> "self_attn.o_proj.weight";
                case BQ -> "self_attn.q_proj.bias";
                case BK -> "self_attn.k_proj.bias";
                case BV -> "self_attn.v_proj.bias";
                case Q_NORM -> "self_attn.q_norm.weight";
                case K_NORM -> "self_attn.k_norm.weight";
                case FFN_NORM -> "post_attention_layernorm.weight";
                case GATE -> "mlp.gate_proj.weight";
                case UP -> "mlp.up_proj.weight";
                case DOWN -> "mlp.down_proj.weight";
            };
        }
    };

    /** llama.cpp's GGUF names. */
    TensorNames GGUF = new TensorNames() {
        @Override public String embedding() { return "token_embd.weight"; }

        @Override public String finalNorm() { return "output_norm.weight"; }

        @Override public String output() { return "output.weight"; }

        @Override public String layer(int layer, LayerPart part) {
            String p = "blk." + layer + ".";
            return p + switch (part) {
                case ATTENTION_NORM -> "attn_norm.weight";
                case WQ -> "attn_q.weight";
                case WK -> "attn_k.weight";
                case WV -> "attn_v.weight";
                case WO -> "attn_output.weight";
                case BQ -> "attn_q.bias";
                case BK -> "attn_k.bias";
                case BV -> "attn_v.bias";
                case Q_NORM -> "attn_q_norm.weight";
                case K_NORM -> "attn_k_norm.weight";
                case FFN_NORM -> "ffn_norm.weight";
                case GATE -> "ffn_gate.weight";
                case UP -> "ffn_up.weight";
                case DOWN -> "ffn_down.weight";
            };
        }
    };
}
