import { describeStackWiring } from "./wiring";

describeStackWiring("prod");
